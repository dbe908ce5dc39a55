"""Prompt templates.

`R1_ZERO` is the DeepSeek-R1-Zero training template, word for word from the paper (DeepSeek-R1,
arXiv 2501.12948, Table 1): the question replaces `{prompt}` and the model continues after
"Assistant:". Nothing in the built-in base model's pretraining corpus uses it.

`MATH_INSTRUCTION` and `user_turn` are the chat prompt of R1's usage rules (section 6), which
`r1lab eval` uses for the benchmarks; the model's own chat template wraps the user turn.
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


# The usage rules of DeepSeek-R1 (r1-facts.md section 6): no system prompt, every instruction in
# the user turn, and for math this instruction after the question.
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
# HumanEval's question is the function's signature and docstring; the code verifier reads the
# last ```python block and runs it after the prompt's imports.
CODE_INSTRUCTION = ("Complete the Python function above. Reason step by step, then write the whole "
                    "function in one ```python code block.")


def user_turn(question: str, instruction: str) -> str:
    """The user's message: the question, then the instruction (if any) after a blank line."""
    return f"{question.strip()}\n\n{instruction}" if instruction else question.strip()
