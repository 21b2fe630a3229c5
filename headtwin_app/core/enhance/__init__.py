"""All-in-one enhancement (the all-in-one paper): degradation simulator with exact noise
bookkeeping, the context vector, the Context-Enhanced U-Net, and DICOM in → DICOM out."""
