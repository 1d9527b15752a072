"""Bug: the input gradient puts dy back at consecutive positions, ignoring the stride."""

from conv_helpers import out_size
from torch_classes import *  # noqa: F403
from torch_classes import Conv2d as _Conv2d


class Conv2d(_Conv2d):
    def backward(self, dy):
        super().backward(dy)
        n, c, h, w = self.x_shape
        o, k, p = dy.shape[1], self.k, self.padding
        ho, wo = out_size(h, k, self.stride, p), out_size(w, k, self.stride, p)
        dcols = (self.weight.reshape(o, -1).T @ dy.reshape(n, o, -1)).reshape(n, c, k, k, ho, wo)
        dxp = dy.new_zeros(n, c, h + 2 * p, w + 2 * p)
        for i in range(k):
            for j in range(k):
                dxp[:, :, i : i + ho, j : j + wo] += dcols[:, :, i, j]  # forgot `* stride`
        return dxp[:, :, p : p + h, p : p + w]
