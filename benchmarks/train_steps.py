"""Time per training step: graphgrad compiled / eager vs hand-written NumPy vs PyTorch eager.

    python benchmarks/train_steps.py          # all workloads (a)-(d)
    python benchmarks/train_steps.py c --rounds 7
"""

import sys

from graphgrad.bench import main

if __name__ == "__main__":
    sys.exit(main())
