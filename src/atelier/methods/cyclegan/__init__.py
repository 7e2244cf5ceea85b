"""CycleGAN (Zhu, Park, Isola & Efros 2017): unpaired translation between two image collections."""
