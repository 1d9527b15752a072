"""Conv arithmetic in pure Python (no torch import, so `cnnkit shape` starts fast).

geometry: output size per axis (conv, pool incl. ceil_mode, transposed conv)
shape:    the same over several axes from command-line notation
solve:    every integer solution for unknown kernel/stride/padding/dilation/input
spec:     a whole network from a one-line text spec (shapes, params, MACs, RF)
          (spec_grammar: the grammar; layer_rows: one layer's numbers; memory: training memory)
manual:   convolution and pooling by hand with the worked steps
"""
