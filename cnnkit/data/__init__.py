"""Datasets for training and evaluation (docs/data.md): the built-in procedural `shapes` /
`shapes-seg` data, torchvision's named sets (cifar10, mnist, ...), `folder:PATH` class
folders and `segfolder:PATH` image/mask folders, loaded as uint8 tensors with splits,
channel statistics, batched augmentation and a device-side batch loader."""
