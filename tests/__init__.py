"""The test suite, a package: ``tests/unit`` (in-process, no server), ``tests/functional``
(real servers on loopback, the CLI in a subprocess, Postfix, sshd), ``tests/tui`` (the Textual
app through Pilot, tmux and snapshots), and ``tests/support`` (what they share)."""
