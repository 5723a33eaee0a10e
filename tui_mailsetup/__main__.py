from tui_mailsetup.cli import run

run()
