"""Prompt templates.

`R1_ZERO` is the DeepSeek-R1-Zero training template, word for word from the paper (DeepSeek-R1,
arXiv 2501.12948, Table 1): the question replaces `{prompt}` and the model continues after
"Assistant:". Nothing in the built-in base model's pretraining corpus uses it.
"""

R1_ZERO = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>. User: {prompt}. Assistant:"
)


def r1_zero_prompt(question: str) -> str:
    """Fill the R1-Zero template with one question; a question that ends in . ? or ! keeps its
    own punctuation instead of gaining the template's full stop."""
    q = question.strip()
    return R1_ZERO.replace("{prompt}.", q if q[-1:] in (".", "?", "!") else q + ".")

