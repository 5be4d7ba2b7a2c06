"""The gin files that ship with the package (this file makes the folder a package, so that the
wheel installs the files as its package data and `common.gin_files` finds them wherever the
package lives). Name them relative to this folder: `models/beta_vae.gin`, `demo.gin`."""
