"""What the pages share: the model and sidebar (common), Projector mode, the job view, performance figures, the
classroom sidebar, and the Streamlit internals behind one module. pages/ holds only pages."""
