"""`python -m bench`: run from the checkout's root (the benchmarks are not installed with the package)."""

import sys

from bench import main

sys.exit(main())
