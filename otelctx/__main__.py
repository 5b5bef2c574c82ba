from otelctx.cli import main

raise SystemExit(main())
