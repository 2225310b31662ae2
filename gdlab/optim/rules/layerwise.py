"""(rules of this module are added here)"""
