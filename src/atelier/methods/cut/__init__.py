"""CUT / FastCUT (Park, Efros, Zhang & Zhu 2020): one-sided unpaired translation with a patch-wise
contrastive loss."""
