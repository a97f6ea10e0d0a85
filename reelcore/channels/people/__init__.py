"""The people channel: faces found on sampled frames, followed through a shot as tracks, grouped
into people across the library, named by the user (issue 17).

Modules, one job each: `settings` (the channel's settings), `engine` (dlib detector, 5-point
landmarks, 128-d ResNet embedder), `tracks` (a face followed through a shot -> one track vector
and crop), `analyse` (one PyAV decode pass of a file -> tracks), `people_db` (people, names and
tracks in SQLite, versioned migrations), `grouping` (incremental assignment, re-grouping with
names as anchors, name/rename/merge/split) and `channel` (the adapter to the channel interface).
"""
