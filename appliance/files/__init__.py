"""Files on disk: content-addressed blobs, what a file is, images, quotas (issue 5).

Nothing here speaks SQL or HTTP; `chat/uploads.py` puts it together with storage.
"""
