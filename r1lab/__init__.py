"""r1lab: the DeepSeek-R1 recipe, from R1-Zero GRPO to evaluation."""
__version__ = "0.1.0"
