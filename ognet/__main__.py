from ognet.cli import main

raise SystemExit(main())
