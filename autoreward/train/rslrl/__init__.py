"""The rsl-rl backend (`--backend warp`): PPO on the batched MuJoCo Warp env (`trainer.py`), the
rewarded env (`env.py`), the actor in the pickle-free format (`policy.py`) and its checkpoint.
Nothing here imports `sb3/`."""
