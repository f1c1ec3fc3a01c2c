"""`python -m bench`: the layer and the functions go on sys.path as Lambda lays them out, then the run."""

from localdev.lambda_runtime import install_lambda_paths

install_lambda_paths()

from bench.cli import main  # noqa: E402

raise SystemExit(main())
