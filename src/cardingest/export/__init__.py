"""Export to hospital imaging systems: DICOM files and sending them to a PACS."""
