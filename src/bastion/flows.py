"""The city's playbook: what happens next when something happens.

One function per trigger, each calling the services of the contexts involved, so that the
whole chain (a positive test → a case → contacts → zones → door-to-door supply) reads on one
page. Contexts never import each other's services; they meet here. The registry is the only
context so far, and it reacts to nothing yet.
"""
