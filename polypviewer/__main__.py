from polypviewer.cli.main import main

raise SystemExit(main())
