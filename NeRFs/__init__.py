"""AD-NeRF re-implementation: the shared NeRF core (``NeRFs.core``) and the Head/Torso command lines."""
