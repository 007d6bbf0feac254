import sys
from pathlib import Path

# Let the tests here import their shared helper module (cli.py).
sys.path.insert(0, str(Path(__file__).parent))
