"""The networks, one module per family; importing this package imports no torch.

- :mod:`asdlib.models.mobilefacenet`: MobileFaceNet (Table 1) with the section and attribute heads
  of every paper system (:func:`~asdlib.models.mobilefacenet.build_model`);
- :mod:`asdlib.models.autoencoder`: the DCASE 2022 autoencoder baseline;
- :mod:`asdlib.models.mobilenetv2`: the DCASE 2022 MobileNetV2 baseline;
- :mod:`asdlib.models.anp`: the attentive neural process of ANP-Boot.

:mod:`asdlib.systems` names which network each system uses.
"""
