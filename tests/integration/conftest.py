"""The integration tests share the helpers in tests/ (bad_inputs.py) with the scenarios' verifiers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
