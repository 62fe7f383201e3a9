"""Pieces shared by several networks: blocks (U-Net, ResNet generator, PatchGAN), the N(0, 0.02) initialisation
(`init.normal_init`) and how a net is held still (`modes`: frozen for another net's step, frozen for good,
evaluated). A block used by one variant lives in that variant's file."""
