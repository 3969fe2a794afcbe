"""Fine-tuning of SoVITS (s2) and GPT (s1) from an experiment folder in the reference's layout.

data.py          the experiment folder's items, bucketed batches (the reference's samplers and collates)
mel.py, losses.py  the SoVITS losses' building blocks
weight_norm.py   weight norm re-attached for training; official `weight_g`/`weight_v` names <-> ours
optim.py         ScaledAdam and the s1 learning-rate schedule
sovits.py        s2 training (generator + discriminator), one step and the epoch loop
gpt.py           s1 training
run.py           what both share: settings, checkpoints in the official formats, resume, pruning,
                 progress callbacks, torch.distributed set-up
"""
