"""A dataset from a zip of class folders (`cats/001.jpg`, `dogs/…`).

`zip_checks.inspect_zip` reads only the zip's directory and refuses what must never be
expanded (a zip bomb, path traversal, symlinks, nested archives, encrypted members) or cannot
make a dataset (one class, too many, a class too small to split, class names that differ only
in case…); `building.build` then decodes every image and fits it (`images`), splits train and
test per class (`stratified_split`) and packs the arrays. What the uploader chose and the
limits from the settings are in `options`; the two refusals every step raises, in
`refusals`. Nothing here touches the database: app/datasets/store.py keeps the result,
app/datasets/ingestion.py runs `build` in its own process and reports its progress.

Members that are not images, or that cannot be decoded, are skipped and listed in the report,
or refuse the whole zip, as the uploader chose (`on_bad_file`).
"""
