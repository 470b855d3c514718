/* uvfetch._uvfetch: the extension module under the uvfetch package
 * (python/uvfetch/__init__.py adds the asyncio layer and the one-shot
 * functions). */
#include "ext.h"

#ifndef UVFPY_VERSION
#define UVFPY_VERSION UVF_VERSION_STRING
#endif

static PyMethodDef module_methods[] = {
    {"_result_restore", uvfpy_result_restore, METH_VARARGS,
     "Rebuilds a pickled Result."},
    {"_request_restore", uvfpy_request_restore, METH_VARARGS,
     "Rebuilds a pickled Request."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "uvfetch._uvfetch",
    .m_doc = "The C part of the uvfetch package; import uvfetch instead.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__uvfetch(void);

PyMODINIT_FUNC PyInit__uvfetch(void) {
  PyObject *m = PyModule_Create(&module_def);
  if (!m)
    return NULL;
  if (uvfpy_result_setup(m) < 0 || uvfpy_request_setup(m) < 0 ||
      PyType_Ready(&uvfpy_ClientType) < 0 ||
      PyType_Ready(&uvfpy_FetchType) < 0 ||
      PyModule_AddObject(m, "_ClientBase", Py_NewRef(&uvfpy_ClientType)) < 0 ||
      PyModule_AddObject(m, "Fetch", Py_NewRef(&uvfpy_FetchType)) < 0 ||
      PyModule_AddStringConstant(m, "__version__", UVFPY_VERSION) < 0 ||
      PyModule_AddStringConstant(m, "library_version", uvf_version()) < 0 ||
      PyModule_AddIntConstant(m, "MAX_CONCURRENCY", UVF_MAX_IN_FLIGHT) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
