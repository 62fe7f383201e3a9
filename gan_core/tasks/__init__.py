"""Tasks: one kind of problem a GAN solves (image generation, translation, vocoding, ...), one file each.

A task owns what is specific to its problem - its training data, its evaluation and how a registered generator
answers requests - so the stages, the training loop, the flow and the registry stay the same for every variant.
"""

from gan_core.tasks.base import Evaluation, Task, all_tasks, get_task, register_task, task_of

__all__ = ["Evaluation", "Task", "all_tasks", "get_task", "register_task", "task_of"]
