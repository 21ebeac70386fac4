"""The stable-baselines3 backend: the training container's job on gymnasium (`trainer.py`), the
reward `VecEnvWrapper`, the VecEnv, hyperparameters (RL Zoo files, literals), its callbacks,
its policy in the pickle-free format and its replay buffer. Nothing here imports `rslrl/`."""
