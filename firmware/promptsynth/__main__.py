from promptsynth.cli import main

raise SystemExit(main())
