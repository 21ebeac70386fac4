"""Training: the reward wrapper, SB3 training in the isolated worker, evaluation on the task
fitness, reward statistics, trajectory summaries, videos and successive halving.

Nothing here calls the LLM. Heavy imports (torch, SB3) happen inside the modules that need
them; `autoreward.train.job` holds the cheap job/result models.
"""
