"""Where Amazon SES credentials come from, judged offline (no network, no botocore).

botocore's credential ``method`` names as a person reads them, and
:func:`credential_hint`: the first source of the AWS chain that has
credentials, read from files and variables. Validation and ``show`` use it;
the driver (:mod:`.ses`) uses it before botocore runs. Standard library only.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tui_mailsetup.settings import MailSettings

# botocore's credential ``method`` values, as a person reads them.
_METHODS = {
    "explicit": "ses.access_key_id and ses.secret_access_key",
    "env": "the environment (AWS_ACCESS_KEY_ID)",
    "shared-credentials-file": "profile {profile} (credentials file)",
    "config-file": "profile {profile} (config file)",
    "sso": "SSO (profile {profile})",
    "assume-role": "an assumed role (profile {profile})",
    "assume-role-with-web-identity": "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
    "custom-process": "credential_process (profile {profile})",
    "container-role": "the container credentials endpoint (ECS/EKS role)",
    "iam-role": "the EC2 instance role (instance metadata)",
    "ec2-credentials-file": "the EC2 credentials file",
    "boto-config": "the boto configuration file",
    "login": "aws login (profile {profile})",
}


def describe_method(method: str, profile: str) -> str:
    """Where credentials came from, from botocore's ``method`` (never the secret)."""
    text = _METHODS.get(method, f"{method} (profile {{profile}})")
    return text.format(profile=profile or "default")


def session_profile(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"


@dataclass(frozen=True)
class CredentialHint:
    """Where botocore's chain would find credentials, judged without network or botocore.

    ``source`` is one of explicit, env, profile, sso, assume-role,
    web-identity, process, container, instance-role (the last one cannot be
    known offline: it is what is left) or none.
    """

    source: str
    text: str
    problem: str = ""
    """A reason the credentials cannot work at all (validation reports it as an error)."""
    field: str = "ses.profile"


def _aws_files(environ: Mapping[str, str]) -> tuple[Path, Path]:
    home = Path(environ.get("HOME") or Path.home())
    credentials = environ.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / ".aws" / "credentials")
    config = environ.get("AWS_CONFIG_FILE") or str(home / ".aws" / "config")
    return Path(credentials).expanduser(), Path(config).expanduser()


def _read_ini(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return configparser.RawConfigParser()
    return parser


def credential_hint(
    settings: MailSettings,
    *,
    secret_present: bool,
    environ: Mapping[str, str] | None = None,
) -> CredentialHint:
    """The first source of botocore's chain that has credentials, read from files and variables.

    The same order as botocore: explicit keys; the environment (unless
    ``ses.profile`` names a profile, which overrides it as ``--profile``
    does); the profile's assumed role, web identity, SSO, keys or
    ``credential_process``; the container endpoint; else the instance role.
    """
    env = os.environ if environ is None else environ
    ses = settings.ses
    key_id = ses.access_key_id.strip()
    if key_id and not secret_present:
        return CredentialHint(
            "explicit",
            "ses.access_key_id without its secret",
            "ses.access_key_id is set but the secret ses.secret_access_key is not stored: store "
            "it with `tui-mailsetup set-secret ses.secret_access_key`, or clear "
            "ses.access_key_id to use the AWS credential chain",
            "ses.secret_access_key",
        )
    if secret_present:
        if not key_id and not env.get("AWS_ACCESS_KEY_ID"):
            return CredentialHint(
                "explicit",
                "ses.secret_access_key without an access key ID",
                "ses.secret_access_key is stored but ses.access_key_id is empty: set it",
                "ses.access_key_id",
            )
        return CredentialHint("explicit", describe_method("explicit", ""))
    named = ses.profile.strip()
    if not named and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return CredentialHint("env", describe_method("env", ""))
    profile = named or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    credentials_file, config_file = _aws_files(env)
    credentials = _read_ini(credentials_file)
    config = _read_ini(config_file)
    section = "default" if profile == "default" else f"profile {profile}"
    in_config = config.has_section(section) or config.has_section(profile)
    in_credentials = credentials.has_section(profile)
    explicit_profile = bool(named or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"))
    if explicit_profile and not (in_config or in_credentials):
        where = "ses.profile" if named else "AWS_PROFILE"
        return CredentialHint(
            "profile",
            f"profile {profile}",
            f"{where} names the profile {profile!r}, which is in neither {credentials_file} "
            f"nor {config_file}",
            "ses.profile",
        )
    options: dict[str, str] = {}
    if in_config:
        options.update(config.items(section if config.has_section(section) else profile))
    if options.get("role_arn"):
        return CredentialHint("assume-role", describe_method("assume-role", profile))
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") or options.get("web_identity_token_file"):
        return CredentialHint("web-identity", describe_method("assume-role-with-web-identity", ""))
    if options.get("sso_start_url") or options.get("sso_session"):
        return CredentialHint("sso", describe_method("sso", profile))
    if in_credentials and credentials.has_option(profile, "aws_access_key_id"):
        return CredentialHint("profile", describe_method("shared-credentials-file", profile))
    if options.get("credential_process"):
        return CredentialHint("process", describe_method("custom-process", profile))
    if options.get("aws_access_key_id"):
        return CredentialHint("profile", describe_method("config-file", profile))
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        return CredentialHint("container", describe_method("container-role", ""))
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return CredentialHint(
            "none",
            "no credentials",
            "No AWS credentials: none in the environment, the profile files or a container "
            "endpoint, and instance metadata is disabled (AWS_EC2_METADATA_DISABLED)",
            "ses.access_key_id",
        )
    return CredentialHint(
        "instance-role",
        "the EC2 instance role, if this machine has one (nothing else was found)",
    )


def looks_like_smtp_password(secret: str) -> bool:
    """An SES SMTP password (44 characters, version byte 4) rather than an IAM secret key (40)."""
    return (
        len(secret) == 44
        and secret.startswith("B")
        and bool(re.fullmatch(r"[A-Za-z0-9+/=]+", secret))
    )
