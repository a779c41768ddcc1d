"""`python -m ari_recorder`: the same as the `ari-recorder` command."""

import sys

from ari_recorder.cli import main

sys.exit(main())
