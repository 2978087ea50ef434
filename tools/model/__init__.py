"""Model import and export: MediaPipe tflite -> PyTorch -> ONNX / Caffe, and the checks of both."""
