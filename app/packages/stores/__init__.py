"""Where encrypted packages wait for their download: a directory (``file``) or an S3 bucket (``s3``), behind one
small interface (``base``). They store ciphertext only: ``app.packages.store`` encrypts before ``put``."""
