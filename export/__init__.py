"""Export trained checkpoints for phones: TFLite (int8, fp16, fp32) and ONNX (fp32, int8).

``deepproduct export`` runs :func:`export.pipeline.export_checkpoint`. One module
per job: ``graph`` (what is exported), ``calibration`` (which images),
``export_inputs`` (those images, preprocessed), ``tflite_export`` / ``onnx_export``
(conversion), ``quantize`` / ``onnx_quantize`` (precision), ``int8_guard`` (int8 only
within the accuracy limit), ``metadata`` (what the files say about themselves),
``parity`` (how close each file is to PyTorch), ``report`` (what was written),
``native_output`` (converter logs kept off the terminal), ``errors``, and ``pipeline``
(the order of it all). Needs the ``[export]`` extra.
"""
