# expect: runtime: call: characters cut
# attack: a 5 MB exception message full of rich markup and terminal escapes, to flood the
# result files and the terminal and to crash rich with a MarkupError
import numpy as np


def compute_reward(state, action, next_state):
    raise ValueError("[/red][bold]\x1b]0;pwned\x07\x1b[2J" * 250_000)
