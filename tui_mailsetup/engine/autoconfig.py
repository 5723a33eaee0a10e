"""Thunderbird's autoconfig format (config-v1.1.xml): parsed safely, SMTP servers only.

The same format comes from a domain's own server
(``https://autoconfig.<domain>/mail/config-v1.1.xml``, the ``.well-known``
path) and from Thunderbird's ISPDB. Only ``<outgoingServer type="smtp">``
matters here: hostname, port, socketType (SSL → tls, STARTTLS → starttls,
plain → none), username (``%EMAILADDRESS%``, ``%EMAILLOCALPART%``) and
whether it wants OAuth2.

The document comes from the network: it is parsed with expat directly, a
document type declaration (the only way to declare entities, hence billion
laughs and external entities) is refused outright, and every text that is
kept is sanitised.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.parsers import expat

from tui_mailsetup.names import host_to_ascii
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import Encryption

SOCKET_TYPES = {"SSL": Encryption.TLS, "STARTTLS": Encryption.STARTTLS, "plain": Encryption.NONE}


class AutoconfigError(Exception):
    """Not a usable autoconfig document (not XML, a DTD, no clientConfig)."""


@dataclass(frozen=True)
class OutgoingServer:
    host: str
    port: int
    encryption: Encryption
    username_format: str
    """As the file says it: "%EMAILADDRESS%", "%EMAILLOCALPART%", or a literal."""
    provider: str
    """The provider's display name, sanitised."""
    oauth2: bool = False
    """The server lists OAuth2 among its authentication methods."""


def parse_xml(data: bytes) -> ET.Element:
    """An element tree from untrusted bytes; AutoconfigError for a DTD or malformed XML."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def refuse(*_: object) -> None:
        raise AutoconfigError("the document declares a DTD (refused: entities are not expanded)")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
        return builder.close()
    except (expat.ExpatError, LookupError, ValueError) as exc:  # LookupError: unknown encoding
        raise AutoconfigError(f"not well-formed XML: {untrusted_text(str(exc))}") from exc
    except AssertionError as exc:  # TreeBuilder: no root element
        raise AutoconfigError("not an XML document") from exc


def parse_config(data: bytes, *, domain: str) -> list[OutgoingServer]:
    """The SMTP servers of an autoconfig document, in the document's order of preference.

    Entries that cannot be used (a host name that is not one, a port out of
    range, an unknown socketType) are skipped. ``%EMAILDOMAIN%`` in a host
    name becomes ``domain``.
    """
    root = parse_xml(data)
    if root.tag != "clientConfig":
        raise AutoconfigError(
            f"the root element is <{untrusted_text(root.tag, limit=40)}>, not <clientConfig>"
        )
    servers: list[OutgoingServer] = []
    for provider in root.iter("emailProvider"):
        name = untrusted_text(
            (provider.findtext("displayName") or provider.get("id") or "").strip(), limit=80
        )
        for element in provider.iter("outgoingServer"):
            if element.get("type") != "smtp":
                continue
            host_text = (
                (element.findtext("hostname") or "").strip().replace("%EMAILDOMAIN%", domain)
            )
            port_text = (element.findtext("port") or "").strip()
            encryption = SOCKET_TYPES.get((element.findtext("socketType") or "").strip())
            try:
                host = host_to_ascii(host_text)
            except ValueError:
                continue
            if encryption is None or not port_text.isdigit() or not 0 < int(port_text) < 65536:
                continue
            methods = {(m.text or "").strip() for m in element.iter("authentication")}
            servers.append(
                OutgoingServer(
                    host=host,
                    port=int(port_text),
                    encryption=encryption,
                    username_format=untrusted_text(
                        (element.findtext("username") or "").strip(), limit=100
                    ),
                    provider=name,
                    oauth2="OAuth2" in methods,
                )
            )
    return servers
