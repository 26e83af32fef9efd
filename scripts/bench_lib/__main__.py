from scripts.bench_lib.cli import main

raise SystemExit(main())
