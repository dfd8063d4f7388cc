"""random_state to gmmc's 64-bit seed.

scikit-learn's meaning is kept: an int gives the same result on every call; a
RandomState instance is a stream that each call advances (a seed is drawn
from it); None means NumPy's global RandomState, so that ``np.random.seed(0)``
makes a program reproducible with gmmc as it does with scikit-learn. gmmc's
own generator then produces the numbers, so an int seed gives gmmc's sequence,
not NumPy's: the same seed gives different initialisations in the two.
"""
import numpy as np

_SEED_SPAN = 2**63


def seed_from(random_state):
    if random_state is None:
        return int(np.random.randint(_SEED_SPAN, dtype=np.int64))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(_SEED_SPAN, dtype=np.int64))
    return int(random_state)
