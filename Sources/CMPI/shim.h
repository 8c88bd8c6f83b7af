// OpenMPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are macros over
// global symbols that Swift cannot import; these getters expose them as functions.
// One line per macro.
#pragma once
#include <mpi.h>

static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int(void) { return MPI_INT; }
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op cmpi_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_max(void) { return MPI_MAX; }
static inline MPI_Op cmpi_min(void) { return MPI_MIN; }
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline int cmpi_success(void) { return MPI_SUCCESS; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
// For MPI_Init_thread and the collective watchdog's point-to-point messages.
static inline int cmpi_thread_single(void) { return MPI_THREAD_SINGLE; }
static inline int cmpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int cmpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype cmpi_datatype_null(void) { return MPI_DATATYPE_NULL; }
static inline MPI_Request cmpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int cmpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
// For the node-local communicator (the ranks that share a node's memory).
static inline int cmpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Info cmpi_info_null(void) { return MPI_INFO_NULL; }
// For the node-shared gradient exchange's window (`MPI_Win_allocate_shared`).
static inline int cmpi_mode_nocheck(void) { return MPI_MODE_NOCHECK; }
static inline MPI_Win cmpi_win_null(void) { return MPI_WIN_NULL; }
