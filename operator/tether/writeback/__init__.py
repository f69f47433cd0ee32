"""Write-back: capture live changes, edit the source files in place, commit and push.

``pointer`` (field pointers), ``edits`` (the edit plan and ``apply_plan``),
``yamledit``/``kustedit``/``helmedit`` (byte-preserving edits per source kind),
``newobject`` (cleaning live objects for Git) and ``errors`` are pure;
``gitwrite`` commits and pushes; ``capture`` decides what differs live vs Git.
"""
