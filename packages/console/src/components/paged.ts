import type { UseQueryResult } from '@tanstack/react-query';

/** The DataTable props of a table paged by the API: this page's rows, how many match in all, loading. */
export function pagedTableProps<T>(list: UseQueryResult<{ value: T[]; '@odata.count'?: number }>) {
  return { records: list.data?.value ?? [], totalRecords: list.data?.['@odata.count'] ?? 0, fetching: list.isFetching, withTableBorder: true, highlightOnHover: true };
}
