from tui_mailsetup.cli import main

raise SystemExit(main())
