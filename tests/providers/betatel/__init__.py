"""Tests of the Betatel dialect."""
