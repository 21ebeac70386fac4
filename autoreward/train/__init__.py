"""Training: a neutral core and one sub-package per trainer.

The core (this folder) holds the job and its result, the pipeline of containers and their
limits, the job runner (one `load_reward`, one reward hash), the checks of a reward's output,
statistics, the pickle-free policy format, evaluation, trajectories, videos and successive
halving. `sb3/` trains with stable-baselines3 on gymnasium, `rslrl/` with rsl-rl on the batched
MuJoCo Warp env; neither imports the other. Nothing here calls the LLM, and heavy imports
(torch, SB3, rsl-rl) happen inside the modules that train; `job.py` is cheap.
"""
